package emf_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/metrics/emf"
	"github.com/deployerhq/deployer/internal/metrics/emf/emftest"
)

func TestFlushWritesEMF(t *testing.T) {
	var out bytes.Buffer
	at := time.UnixMilli(1700000000123)
	d := &emf.Decisions{Deployment: "deployer-", Out: &out, Now: func() time.Time { return at }}
	if err := d.Flush(); err != nil || out.Len() != 0 {
		t.Fatalf("Flush with nothing counted: %v, wrote %q", err, out.String())
	}
	d.Decided("rejected", "option_restricted")
	d.Decided("accepted", "none")
	d.Decided("rejected", "option_restricted")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per decision and reason:\n%s", len(lines), out.String())
	}
	want := []struct {
		decision, reason string
		n                int64
	}{{"accepted", "none", 1}, {"rejected", "option_restricted", 2}}
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"_aws":{`) {
			t.Errorf("line %d does not start with the _aws directive: %s", i, l)
		}
		doc, err := emftest.Parse([]byte(l))
		if err != nil {
			t.Fatalf("line %d is not valid EMF: %v\n%s", i, err, l)
		}
		if doc.Namespace != emf.Namespace || doc.Timestamp != at.UnixMilli() || doc.Metrics[emf.MetricDecisions] != "Count" {
			t.Errorf("line %d: %+v", i, doc)
		}
		if !slices.EqualFunc(doc.Dimensions, [][]string{{"Deployment", "Decision", "Reason"}, {"Deployment", "Decision"}}, slices.Equal) {
			t.Errorf("line %d: dimensions %v", i, doc.Dimensions)
		}
		n, _ := doc.Values[emf.MetricDecisions].(json.Number).Int64()
		if doc.Values["Deployment"] != "deployer-" || doc.Values["Decision"] != want[i].decision || doc.Values["Reason"] != want[i].reason || n != want[i].n {
			t.Errorf("line %d: values %v, want %+v", i, doc.Values, want[i])
		}
	}
	out.Reset()
	if err := d.Flush(); err != nil || out.Len() != 0 {
		t.Fatalf("a second Flush wrote %q (%v): counts are per invocation", out.String(), err)
	}
}

// The checker refuses what CloudWatch would not extract metrics from.
func TestParseRefusesInvalidEMF(t *testing.T) {
	for name, line := range map[string]string{
		"not JSON":             `{`,
		"no _aws":              `{"a":1}`,
		"no timestamp":         `{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"no directives":        `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`,
		"no namespace":         `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"no dimensions member": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Metrics":[{"Name":"M"}]}]},"M":1}`,
		"dimension missing":    `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"dimension not string": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":2,"M":1}`,
		"metric missing":       `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}}`,
		"metric not a number":  `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":"1"}`,
		"unknown unit":         `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Things"}]}]},"M":1}`,
	} {
		if _, err := emftest.Parse([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
	ok := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60}]}]},"D":"x","M":[1,2]}`
	if _, err := emftest.Parse([]byte(ok)); err != nil {
		t.Errorf("refused a valid document: %v", err)
	}
}
