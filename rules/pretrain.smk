# The embedded mini text-to-image model (the stand-in for Stable Diffusion at the offline scales):
#   snakemake pretrain_mini --cores all
# retrains the committed weights on a GPU (autoencoder, then UNet and text encoder, export of the fp16 diffusers
# folder and its early UNet checkpoints, model card) into repro/generators/weights/. Not part of `all`: the
# weights are committed, and every experiment reads them. The work folder keeps resumable checkpoints, so a
# killed job continues where it stopped (`repro pretrain` runs in chunks).


rule pretrain_mini:
    output:
        touch("work/pretrain/mini.done"),
    log:
        "logs/pretrain/mini.log",
    resources:
        gpu=1,
    shell:
        "repro pretrain all --scale mini --work work/pretrain/mini --weights repro/generators/weights "
        "{DATA_ARG} > {log} 2>&1"
