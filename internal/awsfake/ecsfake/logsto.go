package ecsfake

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogsTo is an Options.OnLog that writes each task's output lines to the
// log stream prefix+taskID of group through client, as the awslogs
// driver would: for a fake ECS beside another implementation of
// CloudWatch Logs (an emulator). A write that fails is passed to onErr.
func LogsTo(client *cloudwatchlogs.Client, group, prefix string, onErr func(taskID string, err error)) func(taskID string, lines []string) {
	return func(taskID string, lines []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stream := aws.String(prefix + taskID)
		// A task's lines arrive in several calls: the stream exists after
		// the first, and a failed create shows in the put below.
		_, _ = client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: stream})
		now := time.Now().UnixMilli()
		evs := make([]cwtypes.InputLogEvent, len(lines))
		for i, l := range lines {
			evs[i] = cwtypes.InputLogEvent{Message: aws.String(l), Timestamp: aws.Int64(now)}
		}
		if _, err := client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: stream, LogEvents: evs}); err != nil {
			onErr(taskID, err)
		}
	}
}
