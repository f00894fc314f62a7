package manifest_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/schemas"
)

func compileBatchSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.BatchSchema))
	if err != nil {
		t.Fatalf("batch.schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("batch.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("batch.schema.json")
	if err != nil {
		t.Fatalf("batch.schema.json does not compile: %v", err)
	}
	return sch
}

// asJSON turns a YAML manifest into the value a JSON Schema validator sees.
func asJSON(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("as JSON: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The schema and the parser must agree: every manifest the parser accepts
// is valid under the schema, and what the schema can express it refuses
// too.
func TestBatchSchemaAgreesWithParse(t *testing.T) {
	sch := compileBatchSchema(t)
	for _, tt := range valid {
		if err := sch.Validate(asJSON(t, tt.yaml)); err != nil {
			t.Errorf("%s: the parser accepts it, the schema does not: %v", tt.name, err)
		}
	}
	if err := sch.Validate(asJSON(t, mustRead("../cli/example/batch.yaml"))); err != nil {
		t.Errorf("example batch: %v", err)
	}
	n := 0
	for _, tt := range invalid {
		if !tt.schema {
			continue
		}
		n++
		if err := sch.Validate(asJSON(t, tt.yaml)); err == nil {
			t.Errorf("%s: the parser refuses it (%s), the schema does not", tt.name, tt.want)
		}
	}
	if n < 3 {
		t.Errorf("only %d invalid manifests checked against the schema", n)
	}
}
