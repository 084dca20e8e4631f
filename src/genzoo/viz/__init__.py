"""Pictures: image grids, loss curves, 2-D scatter and density plots."""

from .plots import image_grid, save_image_grid, plot_curves, plot_points, plot_density, save_figure

__all__ = ["image_grid", "save_image_grid", "plot_curves", "plot_points", "plot_density", "save_figure"]
