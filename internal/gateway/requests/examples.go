package requests

import "embed"

// The valid test documents double as the OpenAPI document's examples, so that
// every example peers read is checked by the tests.
const exampleDir = "testdata/valid"

//go:embed testdata/valid/*.json
var exampleFiles embed.FS
