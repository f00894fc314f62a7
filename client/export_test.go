package client

// ForgetTaskProcesses makes the package forget that RunTaskProcess was
// called, for the test of Serve's refusal; it returns the undo.
func ForgetTaskProcesses() (undo func()) {
	was := handlesTaskProcesses.Swap(false)
	return func() { handlesTaskProcesses.Store(was) }
}
