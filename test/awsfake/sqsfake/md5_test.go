package sqsfake

import "testing"

func TestAttributesMD5(t *testing.T) {
	s := func(v string) *string { return &v }
	attrs := map[string]attrValue{
		"b": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
		"a": {DataType: "String", StringValue: s("héllo")},
		"n": {DataType: "Number", StringValue: s("12")},
	}
	// The same attributes through moto's implementation of SQS's
	// algorithm (moto.sqs.models.Message.attribute_md5).
	const want = "e38f90c748a0acd11ab5d7ec17b9b133"
	if got := attributesMD5(attrs); got != want {
		t.Errorf("attributesMD5 = %s, want %s", got, want)
	}
	if got := attributesMD5(nil); got != "" {
		t.Errorf("attributesMD5(nil) = %q, want \"\"", got)
	}
}

func TestStoredAttributesRoundTrip(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, v := range []attrValue{
		{DataType: "String", StringValue: s("plain")},
		{DataType: "String", StringValue: s(marker + "String" + marker + "looks stored")},
		{DataType: "String.custom", StringValue: s("x")},
		{DataType: "Number", StringValue: s("-1.5e3")},
		{DataType: "Binary.png", BinaryValue: []byte{0, 0xff, 0x10}},
	} {
		stored, _, err := checkAttribute("k", v)
		if err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		got := decodeAttribute(stored)
		if attributesMD5(map[string]attrValue{"k": got}) != attributesMD5(map[string]attrValue{"k": v}) {
			t.Errorf("%+v stored as %q came back as %+v", v, stored, got)
		}
	}
}
