package ecsfake_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// LogsTo writes more lines than one PutLogEvents call takes (by count and
// by bytes) in several calls that CloudWatch's limits accept, in order.
func TestLogsToSplitsBatchesAtCloudWatchsLimits(t *testing.T) {
	f, url := logsfake.Start(t)
	client := cloudwatchlogs.NewFromConfig(awstest.Config(t, url, nil))
	if _, err := client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/g")}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 25000 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	for i := range 200 { // 200 lines of 16 KiB: more than 1 MiB
		lines = append(lines, fmt.Sprintf("%05d", i)+strings.Repeat("x", 16*1024-5))
	}
	ecsfake.LogsTo(client, "/g", "p/", func(_ string, err error) { t.Errorf("writing: %v", err) })("t1", lines)
	evs := f.Events("/g", "p/t1")
	if len(evs) != len(lines) {
		t.Fatalf("%d events stored, want %d", len(evs), len(lines))
	}
	for i, e := range evs {
		if e.Message != lines[i] {
			t.Fatalf("event %d is %.20q, want %.20q", i, e.Message, lines[i])
		}
	}
}
