// Package emf writes the gatekeeper Lambda's decision counts in
// CloudWatch Embedded Metric Format: JSON lines on the Lambda's stdout,
// which CloudWatch Logs receives and turns into metrics without a
// PutMetricData call (so the Lambda needs no cloudwatch:PutMetricData
// right, and adds no latency to an invocation).
//
// After each invocation (one SQS batch) the Lambda writes one line per
// decision and reason the batch had, in namespace Namespace, metric
// MetricDecisions (unit Count), with the dimension sets
// [Deployment, Decision, Reason] and [Deployment, Decision]:
//
//	{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Deployer",
//	  "Dimensions":[["Deployment","Decision","Reason"],["Deployment","Decision"]],
//	  "Metrics":[{"Name":"GatekeeperDecisions","Unit":"Count"}]}]},
//	 "Deployment":"deployer-","Decision":"rejected","Reason":"option_restricted","GatekeeperDecisions":2}
//
// The decisions and reasons are those of deployer_gatekeeper_decisions_total
// (see package metrics).
package emf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// The namespace, metric and dimension names of the lines.
const (
	Namespace       = "Deployer"
	MetricDecisions = "GatekeeperDecisions"
	DimDeployment   = "Deployment"
	DimDecision     = "Decision"
	DimReason       = "Reason"
)

// Decisions counts a gatekeeper's decisions (it is a gatekeeper.Observer)
// and writes them as EMF lines. It is safe for concurrent use.
type Decisions struct {
	// Deployment is the Deployment dimension's value: the deployment's
	// resource prefix ("deployer-"). Empty is written as "default" (a
	// dimension value cannot be empty).
	Deployment string
	// Out receives the lines: the Lambda's stdout.
	Out io.Writer
	// Now stamps the lines. Defaults to time.Now.
	Now func() time.Time

	mu     sync.Mutex
	counts map[key]int
}

type key struct{ decision, reason string }

// Decided counts one decision.
func (d *Decisions) Decided(decision, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counts == nil {
		d.counts = map[key]int{}
	}
	d.counts[key{decision, reason}]++
}

// directive is the _aws member of an EMF document.
type directive struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []metricSetDef `json:"CloudWatchMetrics"`
}

type metricSetDef struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Flush writes one line per decision and reason counted since the last
// Flush, in a stable order, and forgets them; it writes nothing when
// nothing was counted. The lines go to Out in one write.
func (d *Decisions) Flush() error {
	d.mu.Lock()
	counts := d.counts
	d.counts = nil
	d.mu.Unlock()
	if len(counts) == 0 {
		return nil
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].decision != keys[j].decision {
			return keys[i].decision < keys[j].decision
		}
		return keys[i].reason < keys[j].reason
	})
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	deployment := d.Deployment
	if deployment == "" {
		deployment = "default"
	}
	aws := directive{Timestamp: now().UnixMilli(), CloudWatchMetrics: []metricSetDef{{
		Namespace:  Namespace,
		Dimensions: [][]string{{DimDeployment, DimDecision, DimReason}, {DimDeployment, DimDecision}},
		Metrics:    []metricDef{{Name: MetricDecisions, Unit: "Count"}},
	}}}
	head, err := json.Marshal(aws)
	if err != nil {
		return fmt.Errorf("encoding the decision metrics: %w", err)
	}
	var buf bytes.Buffer
	for _, k := range keys {
		reason := k.reason
		if reason == "" {
			reason = "none"
		}
		// _aws first, then the dimensions and the metric, as the
		// specification's examples write them.
		buf.WriteString(`{"_aws":`)
		buf.Write(head)
		for _, m := range []struct {
			name  string
			value any
		}{{DimDeployment, deployment}, {DimDecision, k.decision}, {DimReason, reason}, {MetricDecisions, counts[k]}} {
			name, _ := json.Marshal(m.name)
			value, err := json.Marshal(m.value)
			if err != nil {
				return fmt.Errorf("encoding the decision metrics: %w", err)
			}
			buf.WriteByte(',')
			buf.Write(name)
			buf.WriteByte(':')
			buf.Write(value)
		}
		buf.WriteString("}\n")
	}
	if _, err := d.Out.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing the decision metrics: %w", err)
	}
	return nil
}
