package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/deployerhq/deployer/internal/awsx"
)

// cloudWatchSink writes each task's output lines to the log stream
// prefix+taskID of group at the CloudWatch Logs of endpoint, as the
// awslogs driver would.
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
	return func(taskID string, lines []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stream := aws.String(prefix + taskID)
		// A task's lines arrive in several calls: the stream exists after the first.
		_, _ = client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: stream})
		now := time.Now().UnixMilli()
		evs := make([]cwtypes.InputLogEvent, len(lines))
		for i, l := range lines {
			evs[i] = cwtypes.InputLogEvent{Message: aws.String(l), Timestamp: aws.Int64(now)}
		}
		if _, err := client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: stream, LogEvents: evs}); err != nil {
			fmt.Fprintf(os.Stderr, "awsfakes: writing task %s's output to %s: %v\n", taskID, endpoint, err)
		}
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
