package schemas_test

import (
	"bytes"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

// The batch manifest schema itself is tested against the parser in
// internal/manifest; here only that it is published.
func TestFilesEmbedsBatchSchema(t *testing.T) {
	b, err := schemas.Files.ReadFile("batch.schema.json")
	if err != nil || !bytes.Equal(b, schemas.BatchSchema) {
		t.Errorf("Files does not hold batch.schema.json: %v", err)
	}
}
