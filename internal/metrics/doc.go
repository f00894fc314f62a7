// Package metrics is what "deployer up" and the worker daemon serve on
// /metrics, in the Prometheus text format (prometheus/client_golang), from
// a registry of the process's own, never the global one:
//
//   - counters and a histogram the gatekeeper and the worker feed as they
//     decide requests and end jobs (Metrics implements gatekeeper.Observer
//     and worker.Observer): deployer_gatekeeper_decisions_total{decision,
//     reason}, deployer_jobs_finished_total{lane,outcome},
//     deployer_job_duration_seconds{lane,outcome};
//   - gauges read from the backend at each scrape, through the queue and
//     lane ports: deployer_queue_messages{queue,state},
//     deployer_queue_oldest_message_age_seconds{queue} (where the backend
//     knows it), deployer_dead_letters{queue}, deployer_lane_running_jobs
//     {lane} and deployer_lane_job_limit{lane};
//   - the Go runtime's and the process's own.
//
// Counters count what this process did (sum them across processes); the
// gauges are the deployment's state as its queues and lanes tell it, the
// same from every process. docs/observability.md lists every series.
package metrics
