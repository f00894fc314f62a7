// Package gatekeeper is the pipeline's security boundary. It takes job
// requests from the request queue, checks each against the allow-list
// policy and the caller identity the queue verified, and either forwards a
// fully resolved run order to the run queue of the job's lane or rejects
// the request with a precise reason on the job's stream.
//
// Handle decides the fate of one message; Serve polls a queue with it (the
// embedded backend and "deployer up"), and the Lambda in cmd/gatekeeper
// calls it for each record of an SQS batch. A message that cannot be
// decoded is dead-lettered with its reason; a rejected request is answered
// and never retried; only transient failures are retried.
//
// A canary request (schemas.JobRequest.Canary) is decided as any request
// — allowed when the verified caller may run one of the container's
// scripts — and its order runs the entrypoint's version probe; it is
// forwarded to the lane's run queue and to the cancel queue, so that no
// full lane holds it up, and ends at once (ReasonNotForwarded) when it
// cannot be forwarded. Describe answers offer canaries
// (schemas.FeatureCanary).
//
// Every request ends once. Answers go to the job's own stream
// (Gatekeeper.StreamAddress), never to one a request names: a request
// naming another stream is rejected as malformed. A run order is measured
// as the queue adapters measure it before it is forwarded, and one too
// large is rejected with the sizes. A refusal no retry mends (an event or
// message refused as malformed, too large or invalid) ends the request:
// rejected and journaled, or dead-lettered with its reason when even the
// rejection cannot be recorded.
//
// Each job request is decided in a decision span (Gatekeeper.Tracer)
// whose parent is the trace context the request carries — its traceparent
// attribute, its TraceParent, or SQS's AWSTraceHeader — and the run order
// forwarded carries the decision's context on to the worker. Observer
// hears every decision with its reason, for metrics.
package gatekeeper
