package org.nd4j.nativeblas;

import java.lang.reflect.Method;

/**
 * Compatibility bridge for DL4J 1.0.0-M2.1's oneDNN helper check.
 *
 * <p>{@code org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper#mklDnnEnabled} looks up a class of this
 * binary name (the name it had in older ND4J releases) and calls {@code getInstance().isUseMKLDNN()}. ND4J
 * M2.1 moved the environment to {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment} (method
 * {@code isUseONEDNN}), so without this class DL4J silently never uses oneDNN on its layers. This class
 * answers with what the loaded native library reports: true on the oneDNN native variant, false on the
 * plain one, so it never claims oneDNN where there is none.
 *
 * <p>The {@code $} in the name is deliberate: it is the binary name DL4J asks for.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class Nd4jCpu$Environment {

    private static final Nd4jCpu$Environment INSTANCE = new Nd4jCpu$Environment();
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Nd4jCpu$Environment.class);
    private static volatile boolean warned;
    private static final String REAL = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";

    private Nd4jCpu$Environment() {
    }

    public static Nd4jCpu$Environment getInstance() {
        return INSTANCE;
    }

    /**
     * Whether the loaded ND4J native library was built with oneDNN ({@code HAVE_ONEDNN} in its build
     * information; the plain build's environment flag says true as well) and has it enabled.
     */
    public boolean isUseMKLDNN() {
        try {
            org.nd4j.linalg.factory.Nd4j.getExecutioner(); // make sure the backend and its library are loaded
            String build = NativeOpsHolder.getInstance().getDeviceNativeOps().buildInfo();
            if (build == null || !build.contains("HAVE_ONEDNN")) {
                return false;
            }
            Class<?> real = Class.forName(REAL, true, Nd4jCpu$Environment.class.getClassLoader());
            Object env = real.getMethod("getInstance").invoke(null);
            Method m = real.getMethod("isUseONEDNN");
            return (Boolean) m.invoke(env);
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            if (!warned) {
                warned = true;
                LOG.warn("cannot tell whether the loaded ND4J library has oneDNN ({}); DL4J's layers run without their"
                        + " oneDNN helpers (slower training). Is this bridge beside an ND4J 1.0.0-M2.1 CPU backend?", e.toString());
            }
            return false;
        }
    }
}
