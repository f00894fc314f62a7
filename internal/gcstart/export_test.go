package gcstart

// Restored is closed once Release's GOGC is back.
func Restored() <-chan struct{} { return restored }
