// Package catalog loads the plan catalogue from YAML or JSON files and provides the embedded default catalogue.
package catalog
