package dev.crmn.cuda;

import dev.crmn.model.infer.InferenceNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CUDA engine behind a {@code Classifier}: normalised NHWC images as ND4J arrays in (their values are copied
 * to the device), probabilities out. Needs ND4J on the class path, which the GPU check does not have; the engine
 * itself ({@link CudaEngine}) does not.
 */
final class CudaNetwork implements InferenceNetwork {

    private final CudaEngine engine;

    CudaNetwork(CudaEngine engine) {
        this.engine = engine;
    }

    @Override
    public float[][] probabilities(INDArray input) {
        InferenceNetwork.requireNhwc(input, engine.config());
        int rows = (int) input.size(0);
        float[] values;
        if (!input.isView() && input.ordering() == 'c' && input.dataType() == DataType.FLOAT
                && input.data().length() == input.length()) {
            values = input.data().asFloat();
        } else {
            try (INDArray dense = input.castTo(DataType.FLOAT).dup('c')) {
                values = dense.data().asFloat();
            }
        }
        return engine.probabilities(values, rows);
    }

    @Override
    public String describe() {
        Cuda.Device d = engine.device();
        return "cuda " + d.describe() + ", " + engine.precision().name().toLowerCase(java.util.Locale.ROOT)
                + (engine.nhwc() ? ", NHWC" : ", NCHW") + (engine.graphsOff() == null ? ", CUDA graphs" : "");
    }

    @Override
    public void close() {
        engine.close();
    }
}
