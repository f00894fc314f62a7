// Package manifest parses, validates and expands a batch manifest: the YAML
// file that "deployer batch run -f FILE" reads to submit many jobs as one
// batch.
//
// A manifest names the batch, bounds how many of its jobs run at once, and
// lists jobs, each of which may carry a GitHub Actions style matrix. Parse
// expands every matrix (include and exclude with GitHub's semantics),
// substitutes ${{ matrix.KEY }} in args and names, and gives each job a Key
// that names it within the batch.
//
// Guarantees of an accepted manifest: it has 1 to schemas.MaxBatchJobs
// jobs; every Key but the empty one is unique in the batch and passes the label rules of
// schemas.BatchSpec, as does the batch's name; no "${{" is left in any
// argument. Parsing is bounded for hostile input: the file is at most
// MaxBytes, YAML anchors and aliases are refused before anything is
// interpreted, and a matrix's size is checked before it is expanded.
//
// The same shape is published as JSON Schema in schemas/batch.schema.json;
// tests keep the two in step. docs/batches.md is the user's reference.
package manifest
