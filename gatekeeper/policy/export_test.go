package policy

import "encoding/json"

var jsonMarshal = func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
