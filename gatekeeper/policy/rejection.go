package policy

// Reason codes of rejections. They are stable: CI scripts and dashboards
// branch on them.
const (
	CodeMalformedRequest          = "malformed_request"           // the request breaks its own contract
	CodeUnknownContainer          = "unknown_container"           // container not listed
	CodeUnknownScript             = "unknown_script"              // script not listed for the container
	CodeCallerNotAllowed          = "caller_not_allowed"          // caller matches no allowed_callers pattern
	CodeMalformedArgs             = "malformed_args"              // legacy args string cannot be split
	CodeTooManyArgs               = "too_many_args"               // more than MaxArgs arguments
	CodeInvalidArgument           = "invalid_argument"            // control character, invalid UTF-8, too long
	CodeMalformedOption           = "malformed_option"            // looks like an option but is not spelled as one
	CodeOptionNotAllowed          = "option_not_allowed"          // option not in allowed_options
	CodeOptionRestricted          = "option_restricted"           // option in restricted_options
	CodeOptionValueRejected       = "option_value_rejected"       // value does not match restricted_options_regex
	CodeOptionMissingValue        = "option_missing_value"        // value-taking option without a value
	CodeOptionUnexpectedValue     = "option_unexpected_value"     // flag given a value with '='
	CodeOptionRepeated            = "option_repeated"             // option given twice, not repeatable
	CodeHardcodedOptionOverridden = "hardcoded_option_overridden" // caller passed a hardcoded option
	CodePositionalNotAllowed      = "positional_not_allowed"      // positional argument or "--" without allow_positional_args
	CodeEndOfOptionsNotAllowed    = "end_of_options_not_allowed"  // "--" would turn option-like hardcoded args into positionals
	CodeRefNotAllowed             = "ref_not_allowed"             // git ref does not match allowed_refs
	CodeCPUOverCap                = "cpu_over_cap"                // task_cpu above max_task_cpu
	CodeMemoryOverCap             = "memory_over_cap"             // task_memory above max_task_memory
	CodeInvalidFargateSize        = "invalid_fargate_size"        // cpu/memory pair Fargate cannot run
	CodeLaunchTypeNotAllowed      = "launch_type_not_allowed"     // launch type not in launch_types
	CodeTimeoutOverCap            = "timeout_over_cap"            // timeout above max_timeout
)

// Codes lists every reason code Resolve may return, for documentation and
// tests.
var Codes = []string{
	CodeMalformedRequest, CodeUnknownContainer, CodeUnknownScript, CodeCallerNotAllowed,
	CodeMalformedArgs, CodeTooManyArgs, CodeInvalidArgument, CodeMalformedOption,
	CodeOptionNotAllowed, CodeOptionRestricted, CodeOptionValueRejected, CodeOptionMissingValue,
	CodeOptionUnexpectedValue, CodeOptionRepeated, CodeHardcodedOptionOverridden,
	CodePositionalNotAllowed, CodeEndOfOptionsNotAllowed, CodeRefNotAllowed,
	CodeCPUOverCap, CodeMemoryOverCap, CodeInvalidFargateSize, CodeLaunchTypeNotAllowed,
	CodeTimeoutOverCap,
}

// CodeMeanings says what each reason code means, for the configuration
// reference.
var CodeMeanings = map[string]string{
	CodeMalformedRequest:          "The request breaks its own contract (job id, attempt, negative sizes).",
	CodeUnknownContainer:          "The container is not listed.",
	CodeUnknownScript:             "The script is not listed for the container.",
	CodeCallerNotAllowed:          "The verified caller matches no allowed_callers pattern of the container or script.",
	CodeMalformedArgs:             "A legacy args string cannot be split: an unterminated quote or a trailing backslash.",
	CodeTooManyArgs:               "More than 256 arguments.",
	CodeInvalidArgument:           "An argument is longer than 4 KiB, is not UTF-8, or holds a control character (anything below U+0020 but tab, DEL, C1 controls, U+2028, U+2029).",
	CodeMalformedOption:           "An argument looks like an option but is not spelled as one: a look-alike dash, a leading space or invisible character, three dashes, or non-ASCII letters in the name.",
	CodeOptionNotAllowed:          "The option is not in allowed_options or allowed_options_without_args (as spelled there).",
	CodeOptionRestricted:          "The option is in restricted_options, in any spelling.",
	CodeOptionValueRejected:       "The option's value does not match its restricted_options_regex pattern as a whole.",
	CodeOptionMissingValue:        "A value-taking option has no value: it is last, or followed by an option or \"--\".",
	CodeOptionUnexpectedValue:     "An option of allowed_options_without_args was given \"=value\".",
	CodeOptionRepeated:            "An option not in repeatable_options is given more than once.",
	CodeHardcodedOptionOverridden: "The caller passed an option of hardcoded_options.",
	CodePositionalNotAllowed:      "A positional argument, or \"--\", for a script without allow_positional_args.",
	CodeEndOfOptionsNotAllowed:    "\"--\" would turn option-like hardcoded_args into positionals.",
	CodeRefNotAllowed:             "The request's caller.ref or a --ref value does not match allowed_refs, or there is no ref.",
	CodeCPUOverCap:                "task_cpu is above max_task_cpu.",
	CodeMemoryOverCap:             "task_memory is above max_task_memory.",
	CodeInvalidFargateSize:        "The CPU and memory pair is not one Fargate can run.",
	CodeLaunchTypeNotAllowed:      "launch_type is not in the container's launch_types.",
	CodeTimeoutOverCap:            "timeout is above max_timeout.",
}

// Rejection is a request refused by policy. Message is one line saying what
// was wrong and what is allowed instead; Code is a stable snake_case reason
// code. Messages quote caller input safely (control and non-ASCII characters
// escaped, long values shortened) so they are safe to log and print.
type Rejection struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message.
func (r *Rejection) Error() string { return r.Message }

func reject(code, msg string) *Rejection { return &Rejection{Code: code, Message: msg} }
