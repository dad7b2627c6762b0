package data

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// WallpapersName is the --data name of the photographs among the
// wallpapers of Debian's desktop packages ([WallpaperPhotos]).
const WallpapersName = "wallpapers"

// A Photo is a photograph installed by a Debian package.
type Photo struct {
	// Package is the Debian package that installs the file.
	Package string
	// Path is the installed file.
	Path string
	// Author is the photographer, as the package's copyright file or the
	// wallpaper's metadata names them.
	Author string
	// Licence is the photograph's licence, as an SPDX identifier.
	Licence string
	// Test marks a photograph held out for testing.
	Test bool
}

// wallpapers lists the photographs (not the drawings, renders and
// patterns) among the wallpapers of Debian 12's desktop packages, by
// package. Plasma's wallpapers come in many resolutions of one picture:
// the largest, 2560×1600, is used.
var wallpapers = []Photo{
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg", Author: "Maciej Wiklo", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg", Author: "Dmitri Popov", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg", Author: "Ian Hex", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg", Author: "Martin Klapetek", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/Grey/contents/images/2560x1600.jpg", Author: "Sigi Sagi", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},
	{Package: "plasma-workspace-wallpapers", Path: "/usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg", Author: "Risto Saukonpää", Licence: "LGPL-3.0"},

	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Aqua.jpg", Author: "Charles Barbin", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Blinds.jpg", Author: "Lennart Poettering, Andrea Cimitan", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Dune.jpg", Author: "Marco Cogoni, Hylke Bons", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/FreshFlower.jpg", Author: "Jens Ansorg", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Garden.jpg", Author: "Charles Barbin", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg", Author: "Timothy Schellhase, Lapo Calamandrei", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/LadyBird.jpg", Author: "Charles Barbin", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/RainDrops.jpg", Author: "blackcombwhistler07", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Storm.jpg", Author: "Sergey Nazarov", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/TwoWings.jpg", Author: "Charles Barbin, Hylke Bons", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/Wood.jpg", Author: "Jean-François Fortin Tam", Licence: "GPL-2.0-or-later"},
	{Package: "mate-backgrounds", Path: "/usr/share/backgrounds/mate/nature/YellowFlower.jpg", Author: "Charles Barbin", Licence: "GPL-2.0-or-later"},

	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg", Author: "Sander Klootwijk", Licence: "CC-BY-SA-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/Dragonfly_by_Bolly.jpg", Author: "Bolly", Licence: "CC-BY-SA-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/Picture_0B_by_freespace.jpg", Author: "Trevor \"Freespace\"", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/Picture_1A_by_freespace.jpg", Author: "Trevor \"Freespace\"", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg", Author: "Jakub Mede", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg", Author: "Aitzol Berasategi", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/free_by_Peter_Nerlich.jpg", Author: "Peter Nerlich", Licence: "CC-BY-SA-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg", Author: "Aitzol Berasategi", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg", Author: "Aitzol Berasategi", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg", Author: "Aitzol Berasategi", Licence: "CC-BY-4.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg", Author: "Clemens Engelhardt", Licence: "CC0-1.0"},
	{Package: "lomiri-wallpapers-16.04", Path: "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg", Author: "Aitzol Berasategi", Licence: "CC-BY-4.0"},
}

// WallpaperPhotos returns the photographs of the wallpapers corpus: 35
// photographs (landscapes, plants, water, objects; not the drawings,
// renders and patterns) among the wallpapers of Debian 12's
// plasma-workspace-wallpapers, mate-backgrounds and lomiri-wallpapers-16.04,
// in that package order. The photographs of each package are split
// deterministically into training and test photographs: the quarter
// (rounded up) whose paths have the smallest FNV-1a hashes is held out for
// testing (Test), as for a folder in [OpenSR]. The caller owns the slice.
func WallpaperPhotos() []Photo {
	photos := slices.Clone(wallpapers)
	for _, pkg := range WallpaperPackages() {
		var paths []string
		for _, p := range photos {
			if p.Package == pkg {
				paths = append(paths, p.Path)
			}
		}
		_, test := holdOut(paths)
		for i := range photos {
			if slices.Contains(test, photos[i].Path) {
				photos[i].Test = true
			}
		}
	}
	return photos
}

// WallpaperPackages returns the Debian packages that install the
// photographs of [WallpaperPhotos], in order.
func WallpaperPackages() []string {
	var pkgs []string
	for _, p := range wallpapers {
		if !slices.Contains(pkgs, p.Package) {
			pkgs = append(pkgs, p.Package)
		}
	}
	return pkgs
}

// OpenWallpapers builds super-resolution pairs (see [LoadSR]) from the
// installed photographs of [WallpaperPhotos]: random crops of the training
// photographs, and every tile of the test photographs (o.Tiles and
// o.CropsPerImage do not apply to them). Each photograph is first shrunk
// to at most o.MaxSide pixels ([DefaultMaxSide] by default). Missing files
// are an error naming the packages to install; a file that cannot be
// decoded is an error naming it.
func OpenWallpapers(o SROptions) (train, test *Set, err error) {
	photos := WallpaperPhotos()
	var missing []string
	var firstMissing string
	for _, p := range photos {
		if _, err := os.Stat(p.Path); err != nil {
			if firstMissing == "" {
				firstMissing = p.Path
			}
			if !slices.Contains(missing, p.Package) {
				missing = append(missing, p.Package)
			}
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("data: --data %s: photographs of %s not found (%s, ...); install them with \"apt-get install --no-install-recommends %s\"",
			WallpapersName, strings.Join(missing, ", "), firstMissing, strings.Join(WallpaperPackages(), " "))
	}
	root := os.DirFS("/")
	var files [2][]srFile
	for _, p := range photos {
		k := 0
		if p.Test {
			k = 1
		}
		files[k] = append(files[k], srFile{fsys: root, path: strings.TrimPrefix(p.Path, "/"), label: p.Path})
	}
	if train, err = srSet(WallpapersName, files[0], o); err != nil {
		return nil, nil, err
	}
	o.Tiles = true
	if test, err = srSet(WallpapersName, files[1], o); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
