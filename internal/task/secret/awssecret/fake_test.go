package awssecret_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/test/awsfake"
)

// fake is an in-memory Secrets Manager and SSM Parameter Store serving
// GetSecretValue and GetParameter with AWS's awsJson1_1 shapes and error
// codes, through awsfake.Server, so that the tests run the SDK's real
// serializers and error deserializers.
type fake struct {
	mu      sync.Mutex
	secrets []*fakeSecret
	params  map[string]fakeParam // by name
	denied  map[string]bool      // SecretIds and parameter names answered AccessDeniedException
	calls   []fakeCall
}

type fakeSecret struct {
	name, arn string
	versions  []fakeVersion
}

type fakeVersion struct {
	id     string
	stages []string
	str    *string
	binary []byte
}

type fakeParam struct {
	region, typ, value string
}

// fakeCall is one request the fake answered.
type fakeCall struct {
	Op, Region, ID string
}

const (
	fakeAccount = "123456789012"
	smPrefix    = "secretsmanager"
	ssmPrefix   = "AmazonSSM"
)

func newFake() *fake {
	return &fake{params: map[string]fakeParam{}, denied: map[string]bool{}}
}

// start serves f at a loopback URL for the test's duration.
func (f *fake) start(t *testing.T) string {
	t.Helper()
	var s awsfake.Server
	s.Add(&awsfake.Service{TargetPrefix: smPrefix, ContentType: "application/x-amz-json-1.1",
		Operations: map[string]awsfake.Operation{"GetSecretValue": f.getSecretValue}})
	s.Add(&awsfake.Service{TargetPrefix: ssmPrefix, ContentType: "application/x-amz-json-1.1",
		Operations: map[string]awsfake.Operation{"GetParameter": f.getParameter}})
	return s.Start(t)
}

// addSecret stores a secret in region and returns its ARN (with AWS's six
// random characters).
func (f *fake) addSecret(region, name string, versions ...fakeVersion) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", region, fakeAccount, name)
	f.secrets = append(f.secrets, &fakeSecret{name: name, arn: arn, versions: versions})
	return arn
}

// addParam stores a SecureString parameter in region and returns its ARN.
func (f *fake) addParam(region, name, value string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.params[name] = fakeParam{region: region, typ: "SecureString", value: value}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, fakeAccount, strings.TrimPrefix(name, "/"))
}

func (f *fake) deny(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[id] = true
}

func (f *fake) callLog() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

var credentialScope = regexp.MustCompile(`Credential=[^/,]+/[0-9]{8}/([^/,]+)/`)

// signingRegion is the region a request was signed for.
func signingRegion(r *http.Request) string {
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return ""
	}
	return m[1]
}

func (f *fake) getSecretValue(r *http.Request, body []byte) (any, error) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	region := signingRegion(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{Op: "GetSecretValue", Region: region, ID: in.SecretID})
	if in.SecretID == "" {
		return nil, awsfake.ClientError("ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	if f.denied[in.SecretID] {
		return nil, awsfake.ClientError("AccessDeniedException", "User: arn:aws:sts::%s:assumed-role/task/x is not authorized to perform: secretsmanager:GetSecretValue on resource: %s because no identity-based policy allows the secretsmanager:GetSecretValue action", fakeAccount, in.SecretID)
	}
	var s *fakeSecret
	for _, c := range f.secrets {
		inRegion := strings.Split(c.arn, ":")[3] == region
		partial := strings.TrimSuffix(c.arn, c.arn[len(c.arn)-7:])
		if inRegion && (in.SecretID == c.name || in.SecretID == c.arn || in.SecretID == partial) {
			s = c
		}
	}
	if s == nil {
		return nil, awsfake.ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	stage := in.VersionStage
	if stage == "" && in.VersionID == "" {
		stage = "AWSCURRENT"
	}
	var v *fakeVersion
	for i := range s.versions {
		c := &s.versions[i]
		if (in.VersionID == "" || c.id == in.VersionID) && (stage == "" || slices.Contains(c.stages, stage)) {
			v = c
		}
	}
	if v == nil {
		if in.VersionID != "" {
			return nil, awsfake.ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionID)
		}
		return nil, awsfake.ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	out := map[string]any{
		"ARN":           s.arn,
		"Name":          s.name,
		"VersionId":     v.id,
		"VersionStages": v.stages,
		"CreatedDate":   float64(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Unix()) + 0.5,
	}
	if v.str != nil {
		out["SecretString"] = *v.str
	}
	if v.binary != nil {
		out["SecretBinary"] = v.binary // encoding/json writes base64, as AWS does
	}
	return out, nil
}

func (f *fake) getParameter(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption *bool
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	region := signingRegion(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{Op: "GetParameter", Region: region, ID: in.Name})
	if f.denied[in.Name] {
		// What SSM answers when KMS refuses to decrypt a SecureString.
		return nil, awsfake.ClientError("AccessDeniedException", "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException)")
	}
	name := in.Name
	if strings.HasPrefix(name, "arn:") {
		// arn:aws:ssm:REGION:ACCOUNT:parameter/NAME; hierarchical names
		// keep their leading slash out of the ARN.
		parts := strings.SplitN(name, ":", 6)
		if len(parts) != 6 || parts[3] != region || !strings.HasPrefix(parts[5], "parameter/") {
			return nil, awsfake.ClientError("ParameterNotFound", "")
		}
		name = strings.TrimPrefix(parts[5], "parameter")
		if _, ok := f.params[name]; !ok {
			name = name[1:]
		}
	}
	p, ok := f.params[name]
	if !ok || p.region != region {
		return nil, awsfake.ClientError("ParameterNotFound", "")
	}
	value := p.value
	if p.typ == "SecureString" && (in.WithDecryption == nil || !*in.WithDecryption) {
		value = "AQICAHh-ciphertext-of-the-value"
	}
	return map[string]any{"Parameter": map[string]any{
		"ARN":              fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, fakeAccount, strings.TrimPrefix(name, "/")),
		"DataType":         "text",
		"LastModifiedDate": float64(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Unix()),
		"Name":             name,
		"Type":             p.typ,
		"Value":            value,
		"Version":          1,
	}}, nil
}
