package httpapi

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of the whole API, served at /openapi.json.
// docs/openapi.json is a copy kept equal by a test.
//
//go:embed openapi.json
var OpenAPI []byte
