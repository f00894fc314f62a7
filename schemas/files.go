package schemas

import "embed"

// Files holds the JSON Schema documents of this package (*.schema.json),
// for consumers that validate without the Go types.
//
//go:embed *.schema.json
var Files embed.FS

// ConfigSchema is the JSON Schema (draft 2020-12) of the configuration
// file. The gatekeeper's loader validates every configuration against it
// before the rules it cannot express; docs/configuration.md is generated
// from it.
//
//go:embed config.schema.json
var ConfigSchema []byte

// BatchSchema is the JSON Schema (draft 2020-12) of a batch manifest, the
// file "deployer batch run -f" reads. internal/manifest parses manifests
// and its tests keep the two in step; docs/batches.md describes it.
//
//go:embed batch.schema.json
var BatchSchema []byte
