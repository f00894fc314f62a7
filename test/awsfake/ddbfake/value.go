package ddbfake

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
)

// Value is a DynamoDB AttributeValue in AWS's JSON shape: exactly one of
// its members is set ({"S": "x"}, {"N": "12"}, {"BOOL": true}, ...).
type Value struct {
	S    *string           `json:"S,omitempty"`
	N    *string           `json:"N,omitempty"`
	B    []byte            `json:"B,omitempty"`
	BOOL *bool             `json:"BOOL,omitempty"`
	NULL *bool             `json:"NULL,omitempty"`
	SS   []string          `json:"SS,omitempty"`
	NS   []string          `json:"NS,omitempty"`
	BS   [][]byte          `json:"BS,omitempty"`
	L    *[]Value          `json:"L,omitempty"`
	M    *map[string]Value `json:"M,omitempty"`
}

// Item is a DynamoDB item: attribute name to value.
type Item map[string]Value

// Str returns an S value.
func Str(s string) Value { return Value{S: &s} }

// Num returns an N value.
func Num(n string) Value { return Value{N: &n} }

// typ returns the value's type descriptor ("S", "N", ...), or an error
// when it has none or several.
func (v Value) typ() (string, error) {
	var set []string
	if v.S != nil {
		set = append(set, "S")
	}
	if v.N != nil {
		set = append(set, "N")
	}
	if v.B != nil {
		set = append(set, "B")
	}
	if v.BOOL != nil {
		set = append(set, "BOOL")
	}
	if v.NULL != nil {
		set = append(set, "NULL")
	}
	if v.SS != nil {
		set = append(set, "SS")
	}
	if v.NS != nil {
		set = append(set, "NS")
	}
	if v.BS != nil {
		set = append(set, "BS")
	}
	if v.L != nil {
		set = append(set, "L")
	}
	if v.M != nil {
		set = append(set, "M")
	}
	switch len(set) {
	case 0:
		return "", validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	case 1:
		return set[0], nil
	}
	return "", validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
}

// validate checks the value the way DynamoDB does on input: one type,
// numbers that parse, non-empty sets without duplicates, NULL true.
func (v Value) validate() error {
	t, err := v.typ()
	if err != nil {
		return err
	}
	switch t {
	case "N":
		if _, err := parseNum(*v.N); err != nil {
			return err
		}
	case "NULL":
		if !*v.NULL {
			return validation("One or more parameter values were invalid: Null attribute value types must have the value of true")
		}
	case "SS", "NS", "BS":
		keys, err := v.setKeys()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return validation("One or more parameter values were invalid: An string set  may not be empty")
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				return validation("One or more parameter values were invalid: Input collection contains duplicates")
			}
			seen[k] = true
		}
	case "L":
		for _, e := range *v.L {
			if err := e.validate(); err != nil {
				return err
			}
		}
	case "M":
		for _, e := range *v.M {
			if err := e.validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseNum parses a DynamoDB number exactly.
func parseNum(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || strings.ContainsAny(s, "/") {
		return nil, validation("A value provided cannot be converted into a number")
	}
	return r, nil
}

// setKeys returns canonical keys of a set's members.
func (v Value) setKeys() ([]string, error) {
	switch {
	case v.SS != nil:
		return slices.Clone(v.SS), nil
	case v.NS != nil:
		out := make([]string, 0, len(v.NS))
		for _, n := range v.NS {
			r, err := parseNum(n)
			if err != nil {
				return nil, err
			}
			out = append(out, r.RatString())
		}
		return out, nil
	case v.BS != nil:
		out := make([]string, 0, len(v.BS))
		for _, b := range v.BS {
			out = append(out, string(b))
		}
		return out, nil
	}
	return nil, nil
}

// equal reports whether a and b are equal DynamoDB values: same type and
// same value (numbers compared as numbers, sets regardless of order).
func equal(a, b Value) bool {
	ta, errA := a.typ()
	tb, errB := b.typ()
	if errA != nil || errB != nil || ta != tb {
		return false
	}
	switch ta {
	case "S":
		return *a.S == *b.S
	case "N":
		x, err1 := parseNum(*a.N)
		y, err2 := parseNum(*b.N)
		return err1 == nil && err2 == nil && x.Cmp(y) == 0
	case "B":
		return bytes.Equal(a.B, b.B)
	case "BOOL":
		return *a.BOOL == *b.BOOL
	case "NULL":
		return true
	case "SS", "NS", "BS":
		ka, _ := a.setKeys()
		kb, _ := b.setKeys()
		slices.Sort(ka)
		slices.Sort(kb)
		return slices.Equal(ka, kb)
	case "L":
		if len(*a.L) != len(*b.L) {
			return false
		}
		for i := range *a.L {
			if !equal((*a.L)[i], (*b.L)[i]) {
				return false
			}
		}
		return true
	case "M":
		if len(*a.M) != len(*b.M) {
			return false
		}
		for k, va := range *a.M {
			vb, ok := (*b.M)[k]
			if !ok || !equal(va, vb) {
				return false
			}
		}
		return true
	}
	return false
}

// compare orders two scalar values of one type (S, N or B) as DynamoDB
// does: strings and binaries by bytes, numbers by value. ok is false when
// the values are not comparable (different or non-scalar types).
func compare(a, b Value) (c int, ok bool) {
	ta, errA := a.typ()
	tb, errB := b.typ()
	if errA != nil || errB != nil || ta != tb {
		return 0, false
	}
	switch ta {
	case "S":
		return strings.Compare(*a.S, *b.S), true
	case "N":
		x, err1 := parseNum(*a.N)
		y, err2 := parseNum(*b.N)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return x.Cmp(y), true
	case "B":
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

// keyString is a canonical encoding of a key value, so "12" and "12.0"
// name the same item as they do in DynamoDB.
func keyString(v Value) string {
	switch {
	case v.S != nil:
		return "S:" + *v.S
	case v.N != nil:
		if r, err := parseNum(*v.N); err == nil {
			return "N:" + r.RatString()
		}
		return "N:" + *v.N
	case v.B != nil:
		return "B:" + string(v.B)
	}
	data, _ := json.Marshal(v)
	return "?:" + string(data)
}

// clone deep-copies an item so stored items never alias request memory.
func (it Item) clone() Item {
	if it == nil {
		return nil
	}
	data, err := json.Marshal(it)
	if err != nil {
		panic(err) // a decoded Item always marshals
	}
	var out Item
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}
