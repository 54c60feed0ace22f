// tests/store/conformance/core.hpp: the core conformance suite (StoreConformance): every
// section, registered. Instantiate with INSTANTIATE_TYPED_TEST_SUITE_P(prefix,
// StoreConformance, ::testing::Types<factories...>) (see tests/store/conformance.hpp).
#pragma once

#include "store/conformance/enqueue_claim.hpp"
#include "store/conformance/leases.hpp"
#include "store/conformance/lifecycle.hpp"
#include "store/conformance/model_test.hpp"
#include "store/conformance/suite.hpp"

namespace millrace::test {

REGISTER_TYPED_TEST_SUITE_P(
    StoreConformance, EnqueueAssignsIdsAndInitialState, EnqueueRejectsBadRecordsAndChangesNothing,
    EnqueueBatchReturnsOneResultPerRecordInOrder, ClaimOrdersByPriorityThenRunAtThenId,
    ClaimRespectsMaxQueueAndSetsTheLease, ScheduledJobBecomesClaimableExactlyAtRunAt,
    NextRunAtIsTheEarliestPendingRunAt, LostLeaseRefusesCompleteFailAndExtend,
    WrongTokenOnARunningJobChangesNothing, LateCompletionRefusedEvenBeforeRequeueReclaims,
    FailWithRetrySchedulesAndCountsAttempts, FailDeadGoesDeadAtOnce, ExtendLeaseKeepsTheJobThroughRequeue,
    RequeueExpiredCountsTheAttemptAndGoesDeadPastMax, SingleAttemptJobDiesOnFirstExpiry,
    CancelReadyScheduledAndRunningJobs, DedupHoldsWhileLiveAndFreesAfterwards,
    RetryDeadRevivesAndRespectsDedup, PurgeRemovesOldTerminalJobsOnly, ListByStateInIdOrderWithLimit,
    StatsFollowEveryKindOfOperation, TokensAreFreshForEveryClaim, StateSurvivesReopen,
    RandomizedAgainstTheModel);

}  // namespace millrace::test
