package awsx_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/deployerhq/deployer/internal/awsx"
)

// A caller's HTTP client (counting calls) must work where AWS_CA_BUNDLE is
// set, as it is on many CI machines: the SDK refuses plain *http.Clients
// there.
func TestLoadAcceptsAClientWhenACABundleIsSet(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	c := &awsx.CountingTransport{}
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: "us-east-1", HTTPClient: &http.Client{Transport: c}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTPClient == nil {
		t.Fatal("no HTTP client")
	}
}

func TestLoadWithoutRegionFails(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	if _, err := awsx.Load(context.Background(), awsx.Options{}); err == nil {
		t.Fatal("Load without a region succeeded")
	}
}
