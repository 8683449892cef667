# The embedded mini text-to-image model (the stand-in for Stable Diffusion at the offline scales):
#   snakemake pretrain_mini --forcerun pretrain_mini --cores all
# retrains the committed weights on a GPU (autoencoder, then UNet and text encoder, export of the fp16 diffusers
# folder and its early UNet checkpoints, model card) into repro/generators/weights/. Not part of `all`: the
# weights are committed, so Snakemake finds its outputs present and runs it only when forced. They are
# `update()` outputs: Snakemake backs them up before the job and restores them if it fails, so a failed
# retraining leaves the committed weights as they were. The work folder keeps resumable checkpoints
# (undeclared, as in assets.smk), so a killed job continues where it stopped.


rule pretrain_mini:
    output:
        model=update(directory("repro/generators/weights/mini")),
        checkpoints=update(directory("repro/generators/weights/mini_checkpoints")),
    log:
        "logs/pretrain/mini.log",
    conda:
        "../envs/repro.yaml"
    resources:
        gpu=1,
    params:
        weights=lambda w, output: os.path.dirname(output.model),
        work="work/pretrain/mini",
        data=DATA_ARG,
    shell:
        "repro pretrain all --scale mini --work {params.work} --weights {params.weights} {params.data} " "> {log} 2>&1"
