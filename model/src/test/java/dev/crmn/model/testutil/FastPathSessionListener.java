package dev.crmn.model.testutil;

import dev.crmn.model.perf.CpuFastPath;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Selects the CPU fast path (generic oneDNN variant on x86-64, helpers on) once per test JVM, before
 * any test touches ND4J: tests run the same configuration as the launcher. Registered through
 * {@code META-INF/services}; the model test-jar carries it to every module's tests.
 */
public final class FastPathSessionListener implements LauncherSessionListener {

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        CpuFastPath.configure();
    }
}
