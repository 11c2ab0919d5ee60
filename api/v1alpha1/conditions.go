package v1alpha1

// Condition types. Every condition has positive polarity: True is the healthy state.
const (
	// ConditionReady summarises the resource: True when every other condition is True.
	ConditionReady = "Ready"
	// ConditionAvailable is True when at least one gateway pod is available and the
	// Deployment has rolled out the current spec.
	ConditionAvailable = "Available"
	// ConditionCoverageComplete is True when the roster has someone on call for every
	// minute of the current week in the roster's time zone.
	ConditionCoverageComplete = "CoverageComplete"
)

// Condition reasons. Each is a CamelCase word a person can search for in the docs.
const (
	// ReasonReconciling: the operator has not yet observed this generation's outcome.
	ReasonReconciling = "Reconciling"
	// ReasonProvisioned: every child resource matches the spec.
	ReasonProvisioned = "Provisioned"
	// ReasonProvisioningFailed: a child resource could not be created or updated.
	ReasonProvisioningFailed = "ProvisioningFailed"
	// ReasonDeploymentAvailable: the gateway Deployment reports Available with the current spec.
	ReasonDeploymentAvailable = "DeploymentAvailable"
	// ReasonDeploymentUnavailable: no gateway pod is available.
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	// ReasonDeploymentProgressing: the Deployment has not yet rolled out the current spec.
	ReasonDeploymentProgressing = "DeploymentProgressing"
	// ReasonFullCoverage: the roster covers every minute of the week.
	ReasonFullCoverage = "FullCoverage"
	// ReasonCoverageGaps: the roster leaves periods with nobody on call.
	ReasonCoverageGaps = "CoverageGaps"
	// ReasonInvalidTimeZone: the roster's time zone is not in the time zone database.
	ReasonInvalidTimeZone = "InvalidTimeZone"
	// ReasonNotReady: at least one other condition is not True; the message names them.
	ReasonNotReady = "NotReady"
	// ReasonAllConditionsMet: every other condition is True.
	ReasonAllConditionsMet = "AllConditionsMet"
)
