// Package schemas holds the versioned contracts between deployer's
// components: the job request (producer → request queue), the run order
// (gatekeeper → run queue), the job event (anything → job stream), the dead
// letter (worker → dead-letter queue), the cancel request (producer →
// request queue) and cancel order (gatekeeper → cancel queue), and the
// allow-list configuration.
//
// Every message carries "schema": "<name>/v<N>". Decoders reject unknown
// names and unknown major versions with ErrUnsupportedSchema instead of
// guessing. Within a major version, unknown fields are ignored so that a newer
// producer can add optional fields without breaking older consumers.
//
// The JSON Schema documents beside the Go types (*.schema.json, embedded as
// Files) describe the same shapes for non-Go consumers; tests keep the two in
// step. This package imports nothing from the rest of the project, so every
// component can depend on it without cycles.
package schemas
