package dev.crmn.connectors.kafka;

import java.io.Serializable;

/**
 * What a Kafka sink subtask waits for before it creates a producer. An exactly-once sink's first producer aborts
 * the open transactions of its transactional-id prefix and so fences whatever else writes with that prefix: a
 * second copy of a job must not get that far while the first runs. The jobs pass a gate that opens once their own
 * copy holds its instance lock.
 */
@FunctionalInterface
public interface SinkGate extends Serializable {

    /** No wait: a sink of a job that guards its transactional ids otherwise (or not at all). */
    SinkGate OPEN = subtask -> { };

    /**
     * Returns once the sink's subtask {@code subtask} may create its producers; throws to fail the subtask (with
     * the reason) when it may not. Called on the task's thread while the sink initializes; interruptible.
     */
    void await(int subtask) throws Exception;
}
