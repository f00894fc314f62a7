package task

// ReadLines is readLines.
var ReadLines = readLines

// ArenaStrings returns the string maker of one arena.
func ArenaStrings() func([]byte) string {
	var a arena
	return a.string
}
