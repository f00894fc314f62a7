package task

// ReadLines is readLines.
var ReadLines = readLines
