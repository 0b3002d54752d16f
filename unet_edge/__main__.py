from unet_edge.cli import main

main()
