// tests/store/conformance/core.hpp: the core conformance suite (store_conformance): every
// section, registered. Instantiate with INSTANTIATE_TYPED_TEST_SUITE_P(prefix,
// store_conformance, ::testing::Types<factories...>) (see tests/store_conformance.hpp).
#pragma once

#include "store/conformance/enqueue_claim.hpp"
#include "store/conformance/leases.hpp"
#include "store/conformance/lifecycle.hpp"
#include "store/conformance/model_test.hpp"
#include "store/conformance/suite.hpp"

namespace millrace::test {

REGISTER_TYPED_TEST_SUITE_P(store_conformance, EnqueueAssignsIdsAndInitialState,
                            EnqueueRejectsBadRecordsAndChangesNothing,
                            EnqueueBatchReturnsOneResultPerRecordInOrder,
                            ClaimOrdersByPriorityThenRunAtThenId,
                            ClaimRespectsMaxQueueAndSetsTheLease,
                            ScheduledJobBecomesClaimableExactlyAtRunAt,
                            NextRunAtIsTheEarliestPendingRunAt,
                            LostLeaseRefusesCompleteFailAndExtend,
                            WrongTokenOnARunningJobChangesNothing,
                            LateCompletionRefusedEvenBeforeRequeueReclaims,
                            FailWithRetrySchedulesAndCountsAttempts, FailDeadGoesDeadAtOnce,
                            ExtendLeaseKeepsTheJobThroughRequeue,
                            RequeueExpiredCountsTheAttemptAndGoesDeadPastMax,
                            SingleAttemptJobDiesOnFirstExpiry, CancelReadyScheduledAndRunningJobs,
                            DedupHoldsWhileLiveAndFreesAfterwards,
                            RetryDeadRevivesAndRespectsDedup, PurgeRemovesOldTerminalJobsOnly,
                            ListByStateInIdOrderWithLimit, StatsFollowEveryKindOfOperation,
                            TokensAreFreshForEveryClaim, StateSurvivesReopen,
                            RandomizedAgainstTheModel);

}  // namespace millrace::test
