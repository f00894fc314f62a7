// Package awsfake is the base of the HTTP-level fakes of the AWS services
// the adapters call (sqsfake, logsfake, ecsfake beside it): a server that
// speaks the AWS JSON protocols (awsJson1_0 for SQS, awsJson1_1 for
// CloudWatch Logs and ECS) — X-Amz-Target routing, JSON bodies, AWS's
// error shape — so that tests run the real aws-sdk-go-v2 serializers,
// deserializers, retryers and error mapping end to end.
//
// A fake answers with AWS's documented request/response shapes and error
// codes; it is never bent to suit an adapter. One Server can host several
// services at one endpoint, as AWS_ENDPOINT_URL does.
package awsfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Error is an AWS error answer.
type Error struct {
	// Status is the HTTP status (400 for client errors, 500 for
	// InternalFailure, 503 for ServiceUnavailable).
	Status int
	// Code is the error code ("QueueDoesNotExist", "ResourceNotFoundException").
	Code string
	// QueryCode, for services with awsQueryCompatible (SQS), is the legacy
	// query-protocol code sent in the x-amzn-query-error header
	// ("AWS.SimpleQueueService.NonExistentQueue"). Empty uses Code.
	QueryCode string
	Message   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ClientError returns a 400 error.
func ClientError(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Operation handles one API operation: it decodes the JSON input itself
// and returns the output to encode, or an error (an *Error is answered as
// is; anything else as a 500 InternalFailure).
type Operation func(r *http.Request, body []byte) (any, error)

// Service is one AWS service's operations.
type Service struct {
	// TargetPrefix is the X-Amz-Target prefix ("AmazonSQS",
	// "Logs_20140328", "AmazonEC2ContainerServiceV20141113").
	TargetPrefix string
	// ContentType is the response content type
	// ("application/x-amz-json-1.0" or "-1.1").
	ContentType string
	// QueryCompatible sends x-amzn-query-error headers (SQS).
	QueryCompatible bool
	Operations      map[string]Operation
}

// Server hosts services at one endpoint. Its zero value is ready to use.
type Server struct {
	mu       sync.RWMutex
	services map[string]*Service
	// Hook, when set, sees every request first; a non-nil error is
	// answered instead of calling the operation (fault injection).
	Hook func(target string, body []byte) error
}

// Add registers a service.
func (s *Server) Add(svc *Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.services == nil {
		s.services = map[string]*Service{}
	}
	s.services[svc.TargetPrefix] = svc
}

// Start serves s on a loopback httptest server closed when t ends, and
// returns its URL.
func (s *Server) Start(t testing.TB) string {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL
}

// ServeHTTP routes by X-Amz-Target.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	prefix, op, _ := strings.Cut(target, ".")
	s.mu.RLock()
	svc := s.services[prefix]
	s.mu.RUnlock()
	if svc == nil {
		writeError(w, &Service{ContentType: "application/x-amz-json-1.1"},
			&Error{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: "unknown target " + target})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, svc, &Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: err.Error()})
		return
	}
	if s.Hook != nil {
		if err := s.Hook(target, body); err != nil {
			writeError(w, svc, err)
			return
		}
	}
	fn := svc.Operations[op]
	if fn == nil {
		writeError(w, svc, &Error{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: "operation " + op + " is not supported by this fake"})
		return
	}
	out, err := fn(r, body)
	if err != nil {
		writeError(w, svc, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeError(w, svc, err)
		return
	}
	w.Header().Set("Content-Type", svc.ContentType)
	w.Header().Set("X-Amzn-Requestid", "fake-request")
	_, _ = w.Write(data)
}

func writeError(w http.ResponseWriter, svc *Service, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = &Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: err.Error()}
	}
	w.Header().Set("Content-Type", svc.ContentType)
	w.Header().Set("X-Amzn-Requestid", "fake-request")
	w.Header().Set("X-Amzn-Errortype", ae.Code)
	if svc.QueryCompatible {
		qc := ae.QueryCode
		if qc == "" {
			qc = ae.Code
		}
		fault := "Sender"
		if ae.Status >= 500 {
			fault = "Receiver"
		}
		w.Header().Set("X-Amzn-Query-Error", qc+";"+fault)
	}
	w.WriteHeader(ae.Status)
	data, _ := json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
	_, _ = w.Write(data)
}

// Decode unmarshals a request body into v, answering AWS's
// SerializationException shape on failure.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

// SecretsManager is Secrets Manager's GetSecretValue of the secrets given,
// by ARN: each answers with its SecretString (the current version's), any
// other SecretId with AWS's ResourceNotFoundException.
func SecretsManager(secrets map[string]string) *Service {
	return &Service{TargetPrefix: "secretsmanager", ContentType: "application/x-amz-json-1.1",
		Operations: map[string]Operation{"GetSecretValue": func(_ *http.Request, body []byte) (any, error) {
			var in struct {
				SecretID string `json:"SecretId"`
			}
			if err := Decode(body, &in); err != nil {
				return nil, err
			}
			value, ok := secrets[in.SecretID]
			if !ok {
				return nil, ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			}
			name := in.SecretID
			if i := strings.LastIndex(name, ":secret:"); i >= 0 {
				name = name[i+len(":secret:"):]
			}
			return map[string]any{"ARN": in.SecretID, "Name": name, "VersionId": "v1", "SecretString": value}, nil
		}}}
}
