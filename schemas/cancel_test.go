package schemas_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

func TestCancelMessagesRoundTrip(t *testing.T) {
	req := schemas.CancelRequest{RequestID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D4A", JobID: jobID, Reason: "wrong ref",
		ReplyStream: "sqlite:01JD3Q8Z5W6X7Y8Z9A0B1C2D4A", Caller: schemas.CallerMetadata{User: "bob"}, SubmittedAt: when}
	b, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if schemas.SchemaName(b) != schemas.CancelRequestName {
		t.Errorf("SchemaName = %q", schemas.SchemaName(b))
	}
	got, err := schemas.DecodeCancelRequest(b)
	req.Schema = schemas.CancelRequestV1
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Errorf("cancel request round trip:\n got %+v, %v\nwant %+v", got, err, req)
	}
	order := schemas.CancelOrder{JobID: jobID, RequestID: req.RequestID, Lane: "default", Reason: "wrong ref",
		Caller: schemas.Identity{Principal: "user:bob", Source: "os_user"}, RequestedAt: when}
	b, _ = order.Encode()
	gotOrder, err := schemas.DecodeCancelOrder(b)
	order.Schema = schemas.CancelOrderV1
	if err != nil || !reflect.DeepEqual(gotOrder, order) || schemas.SchemaName(b) != schemas.CancelOrderName {
		t.Errorf("cancel order round trip:\n got %+v, %v\nwant %+v", gotOrder, err, order)
	}
}

func TestCancelMessagesRejectBadInput(t *testing.T) {
	for _, tt := range []struct {
		body string
		want error
	}{
		{`{"schema":"cancel_request/v2","request_id":"01JD3Q8Z5W6X7Y8Z9A0B1C2D4A","job_id":"` + jobID + `","reply_stream":"s"}`, schemas.ErrUnsupportedSchema},
		{`{"schema":"job_request/v1"}`, schemas.ErrUnsupportedSchema},
		{`{"schema":"cancel_request/v1","request_id":"x","job_id":"` + jobID + `","reply_stream":"s"}`, schemas.ErrMalformed},
		{`{"schema":"cancel_request/v1","request_id":"01JD3Q8Z5W6X7Y8Z9A0B1C2D4A","job_id":"` + jobID + `"}`, schemas.ErrMalformed},
		{`{"schema":"cancel_request/v1","request_id":"01JD3Q8Z5W6X7Y8Z9A0B1C2D4A","job_id":"` + jobID + `","reply_stream":"s","reason":"` + strings.Repeat("x", 1025) + `"}`, schemas.ErrMalformed},
	} {
		if _, err := schemas.DecodeCancelRequest([]byte(tt.body)); !errors.Is(err, tt.want) {
			t.Errorf("DecodeCancelRequest(%.80s) = %v, want %v", tt.body, err, tt.want)
		}
	}
	for _, tt := range []struct {
		body string
		want error
	}{
		{`{"schema":"cancel_order/v2","job_id":"` + jobID + `","caller":{"principal":"p"}}`, schemas.ErrUnsupportedSchema},
		{`{"schema":"cancel_order/v1","job_id":"` + jobID + `"}`, schemas.ErrMalformed},
		{`{"schema":"cancel_order/v1","job_id":"x","caller":{"principal":"p"}}`, schemas.ErrMalformed},
	} {
		if _, err := schemas.DecodeCancelOrder([]byte(tt.body)); !errors.Is(err, tt.want) {
			t.Errorf("DecodeCancelOrder(%s) = %v, want %v", tt.body, err, tt.want)
		}
	}
	if schemas.SchemaName([]byte(`{"schema":"nope"}`)) != "" || schemas.SchemaName([]byte(`[`)) != "" {
		t.Error("SchemaName of a message without a valid schema is not empty")
	}
	if got := schemas.CancelStopReason("user:bob", ""); got != "cancelled: requested by user:bob" {
		t.Errorf("CancelStopReason = %q", got)
	}
}
