package dev.crmn.it.testutil;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Callable;

/** Starting a second copy of a running job: its planning must be refused once the first holds its membership. */
public final class SecondCopy {

    private SecondCopy() {
    }

    /**
     * Plans a second copy until it is refused (the first copy's group membership becomes visible a moment after it
     * starts) or {@code timeout} passes.
     *
     * @return the refusal, or null if every try was accepted
     */
    public static IOException awaitRefusal(Callable<?> plan, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                plan.call();
                Thread.sleep(200); // polling until the first copy's membership is visible, with a deadline
            } catch (IOException refused) {
                return refused;
            }
        }
        return null;
    }
}
