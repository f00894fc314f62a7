// Command stubconfig writes the stub-run copy of the standard
// configuration (see package standard) for "make run-standard":
//
//	go run ./config/standard/stubconfig -o DIR
//
// and prints the copy's path.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/deployerhq/deployer/config/standard"
)

func main() {
	src := flag.String("config", "config/standard/deployer.yaml", "the configuration to copy")
	out := flag.String("o", ".state/standard", "directory to write the copy into")
	flag.Parse()
	path, err := standard.StubConfig(*src, *out, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stubconfig:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
