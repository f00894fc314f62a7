// Package emftest checks lines against the CloudWatch Embedded Metric
// Format specification, for tests: what CloudWatch Logs requires of a
// log event before it extracts metrics from it.
package emftest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Document is one EMF log event, as checked.
type Document struct {
	Timestamp int64
	Namespace string
	// Dimensions are the dimension sets, Metrics the metric names and
	// units of the first (and, for deployer, only) metric directive.
	Dimensions [][]string
	Metrics    map[string]string
	// Values are the root members: dimension values (strings) and metric
	// values (float64 or []any of them), and anything else.
	Values map[string]any
}

// units are the units EMF allows (those of CloudWatch's MetricDatum).
var units = map[string]bool{}

func init() {
	for _, u := range strings.Split("Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes "+
		"Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second "+
		"Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second "+
		"Terabits/Second Count/Second None", " ") {
		units[u] = true
	}
}

// Limits of the specification.
const (
	maxNameLen          = 1024
	maxDimensionsPerSet = 30
	maxMetrics          = 100
	maxValues           = 100
)

// Parse checks one line as an EMF document: a JSON object whose _aws
// member holds an integer Timestamp (milliseconds) and a non-empty
// CloudWatchMetrics array of directives, each with a Namespace, Dimensions
// (an array of dimension sets, each an array of at most 30 names) and
// Metrics (at most 100, each a Name with an optional Unit among those
// CloudWatch knows and an optional StorageResolution of 1 or 60); every
// dimension named must be a root member holding a non-empty string, and
// every metric a root member holding a number or an array of at most 100
// numbers. It returns every problem at once.
func Parse(line []byte) (Document, error) {
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return Document{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	raw, ok := root["_aws"]
	if !ok {
		return Document{}, errors.New("no _aws member: not an EMF document")
	}
	var aws struct {
		Timestamp         *json.Number      `json:"Timestamp"`
		CloudWatchMetrics []json.RawMessage `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(raw, &aws); err != nil {
		return Document{}, fmt.Errorf("_aws: %w", err)
	}
	doc := Document{Metrics: map[string]string{}, Values: map[string]any{}}
	if aws.Timestamp == nil {
		bad("_aws.Timestamp is missing")
	} else if ts, err := aws.Timestamp.Int64(); err != nil || ts < 0 {
		bad("_aws.Timestamp %s is not a number of milliseconds", aws.Timestamp)
	} else {
		doc.Timestamp = ts
	}
	if len(aws.CloudWatchMetrics) == 0 {
		bad("_aws.CloudWatchMetrics is missing or empty")
	}
	for k, v := range root {
		if k == "_aws" {
			continue
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		_ = d.Decode(&x)
		doc.Values[k] = x
	}
	for i, rawDir := range aws.CloudWatchMetrics {
		var dir struct {
			Namespace  *string `json:"Namespace"`
			Dimensions [][]any `json:"Dimensions"`
			Metrics    []struct {
				Name              *string      `json:"Name"`
				Unit              *string      `json:"Unit"`
				StorageResolution *json.Number `json:"StorageResolution"`
			} `json:"Metrics"`
		}
		if err := json.Unmarshal(rawDir, &dir); err != nil {
			bad("CloudWatchMetrics[%d]: %v", i, err)
			continue
		}
		switch {
		case dir.Namespace == nil:
			bad("CloudWatchMetrics[%d].Namespace is missing", i)
		case *dir.Namespace == "" || len(*dir.Namespace) > maxNameLen || strings.TrimSpace(*dir.Namespace) != *dir.Namespace:
			bad("CloudWatchMetrics[%d].Namespace %q is not 1 to %d characters without surrounding spaces", i, *dir.Namespace, maxNameLen)
		}
		if dir.Dimensions == nil {
			bad("CloudWatchMetrics[%d].Dimensions is missing", i)
		}
		var sets [][]string
		for j, set := range dir.Dimensions {
			if len(set) > maxDimensionsPerSet {
				bad("CloudWatchMetrics[%d].Dimensions[%d] has %d dimensions, at most %d", i, j, len(set), maxDimensionsPerSet)
			}
			var names []string
			for _, d := range set {
				name, ok := d.(string)
				if !ok {
					bad("CloudWatchMetrics[%d].Dimensions[%d]: %v is not a dimension name", i, j, d)
					continue
				}
				names = append(names, name)
				v, ok := doc.Values[name].(string)
				switch {
				case !ok:
					bad("dimension %s is not a string member of the root", name)
				case v == "" || len(v) > maxNameLen:
					bad("dimension %s's value %q is not 1 to %d characters", name, v, maxNameLen)
				}
			}
			sets = append(sets, names)
		}
		if len(dir.Metrics) == 0 || len(dir.Metrics) > maxMetrics {
			bad("CloudWatchMetrics[%d].Metrics has %d metrics, want 1 to %d", i, len(dir.Metrics), maxMetrics)
		}
		for j, m := range dir.Metrics {
			if m.Name == nil || *m.Name == "" || len(*m.Name) > maxNameLen {
				bad("CloudWatchMetrics[%d].Metrics[%d] has no valid Name", i, j)
				continue
			}
			unit := ""
			if m.Unit != nil {
				unit = *m.Unit
				if !units[unit] {
					bad("metric %s: unit %q is not one CloudWatch knows", *m.Name, unit)
				}
			}
			if r := m.StorageResolution; r != nil && r.String() != "1" && r.String() != "60" {
				bad("metric %s: StorageResolution %s, want 1 or 60", *m.Name, r)
			}
			if !numeric(doc.Values[*m.Name]) {
				bad("metric %s is not a number (or up to %d numbers) at the root: %v", *m.Name, maxValues, doc.Values[*m.Name])
			}
			if i == 0 {
				doc.Metrics[*m.Name] = unit
			}
		}
		if i == 0 && dir.Namespace != nil {
			doc.Namespace, doc.Dimensions = *dir.Namespace, sets
		}
	}
	return doc, errors.Join(errs...)
}

// numeric reports whether v is a finite number or a non-empty array of
// at most maxValues of them.
func numeric(v any) bool {
	num := func(x any) bool {
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	if vs, ok := v.([]any); ok {
		if len(vs) == 0 || len(vs) > maxValues {
			return false
		}
		for _, x := range vs {
			if !num(x) {
				return false
			}
		}
		return true
	}
	return num(v)
}
