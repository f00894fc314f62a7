// Command stamper is the script of the line-latency benchmark
// (test/bench_test.go): it prints -n lines, one every -every, each
// starting with the time it was written in nanoseconds since the Unix
// epoch, one write per line, so that a reader can tell how late each
// line reaches it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := flag.Int("n", 300, "lines to print")
	every := flag.Duration("every", 2*time.Millisecond, "interval between lines")
	flag.Parse()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	buf := make([]byte, 0, 64)
	for i := range *n {
		if i > 0 {
			<-tick.C
		}
		buf = strconv.AppendInt(buf[:0], time.Now().UnixNano(), 10)
		buf = fmt.Appendf(buf, " line %d\n", i+1)
		if _, err := os.Stdout.Write(buf); err != nil {
			fmt.Fprintf(os.Stderr, "stamper: writing line %d: %v\n", i+1, err)
			os.Exit(1)
		}
	}
}
