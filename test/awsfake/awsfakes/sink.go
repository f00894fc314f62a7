package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
)

// cloudWatchSink writes the tasks' output to the CloudWatch Logs at
// endpoint (us-east-1), as the awslogs driver would.
func cloudWatchSink(endpoint, group, prefix string) (func(taskID string, lines []string), error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("-task-logs-endpoint %q: want http://LOOPBACK:PORT", endpoint)
	}
	cfg, err := awsx.Load(context.Background(), awsx.Options{
		Region:            "us-east-1",
		StaticCredentials: &awsx.Credentials{AccessKeyID: "awsfakes", SecretAccessKey: "test"},
	})
	if err != nil {
		return nil, err
	}
	client := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	return ecsfake.LogsTo(client, group, prefix, func(taskID string, err error) {
		fmt.Fprintf(os.Stderr, "awsfakes: writing task %s's output to %s: %v\n", taskID, endpoint, err)
	}), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
