package ecsfake

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// Limits of one PutLogEvents call, as the CloudWatch Logs API reference
// documents them: events, and bytes counted as each message's UTF-8 size
// plus 26.
const (
	putMaxEvents     = 10000
	putMaxBytes      = 1048576
	putEventOverhead = 26
)

// LogsTo is an Options.OnLog that writes each task's output lines to the
// log stream prefix+taskID of group through client, as the awslogs
// driver would: for a fake ECS beside another implementation of
// CloudWatch Logs (an emulator). The stream is created with a task's
// first lines; lines go in as many PutLogEvents calls as CloudWatch's
// batch limits ask for, in order. A write that fails is passed to onErr,
// and the lines after it are not written.
func LogsTo(client *cloudwatchlogs.Client, group, prefix string, onErr func(taskID string, err error)) func(taskID string, lines []string) {
	var created sync.Map // stream names
	return func(taskID string, lines []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stream := aws.String(prefix + taskID)
		// A task's lines arrive in several calls: the stream exists after
		// the first, and a failed create shows in the put below.
		if _, done := created.LoadOrStore(*stream, true); !done {
			_, _ = client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: stream})
		}
		now := time.Now().UnixMilli()
		for len(lines) > 0 {
			n, size := 0, 0
			for n < len(lines) && n < putMaxEvents && (n == 0 || size+len(lines[n])+putEventOverhead <= putMaxBytes) {
				size += len(lines[n]) + putEventOverhead
				n++
			}
			evs := make([]cwtypes.InputLogEvent, n)
			for i, l := range lines[:n] {
				evs[i] = cwtypes.InputLogEvent{Message: aws.String(l), Timestamp: aws.Int64(now)}
			}
			if _, err := client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: stream, LogEvents: evs}); err != nil {
				onErr(taskID, err)
				return
			}
			lines = lines[n:]
		}
	}
}
