package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML renders the imported configuration as YAML, with the notes as
// comments: the configuration-wide ones at the top, each container's above
// it. What was not carried is marked "not carried:", so a reader finds
// every setting left behind. source names the imported file in the first
// comment line.
func (imp *EDRImport) YAML(source string) ([]byte, error) {
	// Through JSON, so the YAML uses the configuration's field names.
	js, err := json.Marshal(imp.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	var root yaml.Node
	if err := root.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	byContainer := map[string][]string{}
	var top []string
	for _, n := range imp.Notes {
		line := "note: " + n.Text
		if n.NotCarried {
			line = "not carried: " + n.Text
		}
		if n.Container == "" {
			top = append(top, line)
		} else {
			byContainer[n.Container] = append(byContainer[n.Container], line)
		}
	}
	header := []string{
		"Imported from " + escapeControl(source) + " by deployer config import-edr.",
		"Review every note below before using this configuration.",
	}
	root.HeadComment = comment(append(header, top...))
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "containers" {
			continue
		}
		cs := root.Content[i+1]
		for j := 0; j+1 < len(cs.Content); j += 2 {
			cs.Content[j].HeadComment = comment(byContainer[cs.Content[j].Value])
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	return buf.Bytes(), nil
}

// comment joins lines into a YAML comment, each line one "# " line.
func comment(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		// The YAML emitter panics on invalid UTF-8, and a file name or a
		// key may hold any bytes.
		out[i] = "# " + escapeControl(strings.ToValidUTF8(l, "\uFFFD"))
	}
	return strings.Join(out, "\n")
}
