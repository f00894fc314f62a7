// Command worker is the worker daemon of an AWS deployment: it runs the
// jobs of the lane run queues as ECS tasks. See "worker -h".
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stderr)) }
