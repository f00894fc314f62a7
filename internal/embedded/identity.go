package embedded

import (
	"fmt"
	"os"
	"os/user"
)

// OSUser is the embedded backend's verified caller identity for this
// process: the OS user running it ("user:<name>", or "uid:<n>" when the
// user has no name). Every queue of a state directory records it as the
// sender of what this process sends (Options.Sender), and the gatekeeper
// checks allowed_callers against it.
func OSUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "user:" + u.Username
	}
	return fmt.Sprintf("uid:%d", os.Getuid())
}
