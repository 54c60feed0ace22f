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

REGISTER_TYPED_TEST_SUITE_P(store_conformance, enqueue_assigns_ids_and_initial_state,
                            enqueue_rejects_bad_records_and_changes_nothing,
                            enqueue_batch_returns_one_result_per_record_in_order,
                            claim_orders_by_priority_then_run_at_then_id,
                            claim_respects_max_queue_and_sets_the_lease,
                            scheduled_job_becomes_claimable_exactly_at_run_at,
                            next_run_at_is_the_earliest_pending_run_at,
                            lost_lease_refuses_complete_fail_and_extend,
                            wrong_token_on_a_running_job_changes_nothing,
                            late_completion_refused_even_before_requeue_reclaims,
                            fail_with_retry_schedules_and_counts_attempts, fail_dead_goes_dead_at_once,
                            extend_lease_keeps_the_job_through_requeue,
                            requeue_expired_counts_the_attempt_and_goes_dead_past_max,
                            single_attempt_job_dies_on_first_expiry, cancel_ready_scheduled_and_running_jobs,
                            dedup_holds_while_live_and_frees_afterwards,
                            retry_dead_revives_and_respects_dedup, purge_removes_old_terminal_jobs_only,
                            list_by_state_in_id_order_with_limit, stats_follow_every_kind_of_operation,
                            tokens_are_fresh_for_every_claim, state_survives_reopen,
                            randomized_against_the_model);

}  // namespace millrace::test
