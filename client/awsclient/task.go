package awsclient

import (
	"context"

	"github.com/deployerhq/deployer/client/internal/link"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
)

// RunTaskProcess is client.RunTaskProcess for a program whose tasks
// reference Secrets Manager or SSM secrets: it resolves them with the AWS
// SDK (the default credential chain, AWS_REGION, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL_SSM), in the
// supervisor's environment. A program that serves the embedded backend
// calls one of the two first thing in main:
//
//	func main() {
//		if code, ok := awsclient.RunTaskProcess(context.Background(), os.Args[1:]); ok {
//			os.Exit(code)
//		}
//		...
//	}
func RunTaskProcess(ctx context.Context, args []string) (code int, ok bool) {
	return link.RunTaskProcess(ctx, args, &secret.Resolver{AWS: &awssecret.Fetcher{}})
}
