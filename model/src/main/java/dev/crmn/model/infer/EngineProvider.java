package dev.crmn.model.infer;

import java.util.ServiceLoader;

/**
 * An engine that lives in another module and is found at run time ({@link ServiceLoader}): the CUDA engine
 * (module {@code cuda-engine}, on the class path in builds with the {@code cuda13} profile). The model module
 * knows only this interface, so a CPU build carries none of the GPU engine's libraries.
 */
public interface EngineProvider {

    /** The engine provided. */
    ClassifierOptions.Engine engine();

    /** Null if the engine can run here (libraries load, a device is visible), else why not, in one line. */
    String unavailable();

    /**
     * A network computing {@code sw} on this engine; it owns what it allocates until {@link InferenceNetwork#close()}.
     *
     * @throws IllegalStateException if the engine cannot run here (the message says why)
     */
    InferenceNetwork open(ServingWeights sw);

    /**
     * The provider of {@code engine} on the class path of this class or of the current thread, or null if the
     * build has none.
     */
    static EngineProvider find(ClassifierOptions.Engine engine) {
        for (ClassLoader cl : new ClassLoader[]{Thread.currentThread().getContextClassLoader(),
                EngineProvider.class.getClassLoader()}) {
            if (cl == null) {
                continue;
            }
            for (EngineProvider p : ServiceLoader.load(EngineProvider.class, cl)) {
                if (p.engine() == engine) {
                    return p;
                }
            }
        }
        return null;
    }
}
