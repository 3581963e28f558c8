package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tenantstream/tenantstream/domain/billing"
	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// ErrFormat is returned for a file that is neither .yaml, .yml nor .json, or YAML
// that has no JSON equivalent (anchors to nowhere, non-string keys, several documents).
var ErrFormat = errors.New("catalog: unsupported catalogue format")

// DefaultYAML returns the embedded default catalogue's file, as shipped.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the embedded default catalogue. It panics if the embedded file is
// invalid, which TestDefault catches before any build ships.
func Default() *billing.Catalog {
	c, err := ParseYAML(defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded default catalogue: %v", err))
	}
	return c
}

// Load reads a catalogue from a .yaml, .yml or .json file and validates it.
func Load(path string) (*billing.Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load catalogue %s: %w", path, err)
	}
	var c *billing.Catalog
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		c, err = ParseYAML(data)
	case ".json":
		c, err = billing.ParseCatalog(data)
	default:
		return nil, fmt.Errorf("load catalogue %s: %w: want .yaml, .yml or .json", path, ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("load catalogue %s: %w", path, err)
	}
	return c, nil
}

// ParseYAML converts YAML to JSON and hands it to billing.ParseCatalog, so both
// formats share one strict decoder and one validation. Numbers are copied as the
// literal text written in the file, never through float64.
func ParseYAML(data []byte) (*billing.Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parse yaml catalogue: %w: empty document", billing.ErrInvalidCatalog)
		}
		return nil, fmt.Errorf("parse yaml catalogue: %w: %w", billing.ErrInvalidCatalog, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse yaml catalogue: %w: more than one document", ErrFormat)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &doc, 0); err != nil {
		return nil, fmt.Errorf("parse yaml catalogue: %w", err)
	}
	return billing.ParseCatalog(buf.Bytes())
}

const maxDepth = 32

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrFormat, maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("%w: empty document", ErrFormat)
		}
		return writeJSON(buf, n.Content[0], depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("%w: line %d: keys must be plain strings", ErrFormat, k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			// The literal goes through as a JSON number if it is one (1000, 0.5, 1e3);
			// YAML-only spellings (0x10, 1_000, .inf) are rejected rather than guessed.
			if !json.Valid([]byte(n.Value)) {
				return fmt.Errorf("%w: line %d: number %q must be written in decimal", ErrFormat, n.Line, n.Value)
			}
			buf.WriteString(n.Value)
		case "!!bool":
			if n.Value != "true" && n.Value != "false" {
				return fmt.Errorf("%w: line %d: write booleans as true or false", ErrFormat, n.Line)
			}
			buf.WriteString(n.Value)
		case "!!null":
			buf.WriteString("null")
		default:
			b, _ := json.Marshal(n.Value)
			buf.Write(b)
		}
	case yaml.AliasNode:
		return fmt.Errorf("%w: line %d: aliases are not supported", ErrFormat, n.Line)
	default:
		return fmt.Errorf("%w: line %d: unsupported YAML node", ErrFormat, n.Line)
	}
	return nil
}
