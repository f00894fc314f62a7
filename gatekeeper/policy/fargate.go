package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// fargateSizes lists, per Fargate CPU size, the memory sizes (MiB) a task
// may have: from, to and step.
var fargateSizes = []struct{ cpu, from, to, step int }{
	{256, 512, 512, 1}, // plus 1024 and 2048, below
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

// fargateMemory returns the memory sizes Fargate allows with cpu, or nil
// when cpu is not a Fargate size.
func fargateMemory(cpu int) []int {
	if cpu == 256 {
		return []int{512, 1024, 2048}
	}
	for _, s := range fargateSizes {
		if s.cpu == cpu {
			var out []int
			for m := s.from; m <= s.to; m += s.step {
				out = append(out, m)
			}
			return out
		}
	}
	return nil
}

// checkFargate returns "" when Fargate can run cpu with memory, or why not
// and what it could run instead.
func checkFargate(cpu, memory int) string {
	mems := fargateMemory(cpu)
	if mems == nil {
		cpus := make([]string, len(fargateSizes))
		for i, s := range fargateSizes {
			cpus[i] = strconv.Itoa(s.cpu)
		}
		return fmt.Sprintf("FARGATE has no task_cpu %d; use one of %s", cpu, strings.Join(cpus, ", "))
	}
	for _, m := range mems {
		if m == memory {
			return ""
		}
	}
	return fmt.Sprintf("FARGATE cannot run task_cpu %d with task_memory %d; with %d CPU units use %s MiB", cpu, memory, cpu, memRange(mems))
}

func memRange(mems []int) string {
	if len(mems) <= 3 {
		s := make([]string, len(mems))
		for i, m := range mems {
			s[i] = strconv.Itoa(m)
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%d to %d in steps of %d", mems[0], mems[len(mems)-1], mems[1]-mems[0])
}
