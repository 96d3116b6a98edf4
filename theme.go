package vigil

// Theme is a tenant's look for the hosted challenge page, in the Management
// API's `theme` shape (contract section 4). Every field is optional: nil or
// "" means Vigil's default. Its JSON form is the wire form.
type Theme struct {
	Name           string           `json:"name,omitempty"`
	LogoURL        string           `json:"logoUrl,omitempty"`
	FaviconURL     string           `json:"faviconUrl,omitempty"`
	WatermarkURL   string           `json:"watermarkUrl,omitempty"`
	PrimaryColor   string           `json:"primaryColor,omitempty"`
	Borders        *ThemeBorders    `json:"borders,omitempty"`
	Colors         *ThemeColors     `json:"colors,omitempty"`
	Container      *ThemeContainer  `json:"container,omitempty"`
	PageBackground *ThemeBackground `json:"pageBackground,omitempty"`
	Typography     *ThemeTypography `json:"typography,omitempty"`
	Links          *ThemeLinks      `json:"links,omitempty"`
	Shadows        *ThemeShadows    `json:"shadows,omitempty"`
	DarkMode       *ThemeDarkMode   `json:"darkMode,omitempty"`
}

// ThemeBorders are border radii and widths in pixels.
type ThemeBorders struct {
	ButtonBorderRadius    *int `json:"buttonBorderRadius,omitempty"`
	ButtonBorderWidth     *int `json:"buttonBorderWidth,omitempty"`
	CardBorderRadius      *int `json:"cardBorderRadius,omitempty"`
	CardBorderWidth       *int `json:"cardBorderWidth,omitempty"`
	InputBorderRadius     *int `json:"inputBorderRadius,omitempty"`
	InputBorderWidth      *int `json:"inputBorderWidth,omitempty"`
	ContainerBorderRadius *int `json:"containerBorderRadius,omitempty"`
}

// ThemeColors are CSS colours ("#1a73e8", "rgb(…)", a named colour).
type ThemeColors struct {
	ButtonPrimaryText         string `json:"buttonPrimaryText,omitempty"`
	ButtonPrimaryBorder       string `json:"buttonPrimaryBorder,omitempty"`
	ButtonSecondaryText       string `json:"buttonSecondaryText,omitempty"`
	ButtonSecondaryBackground string `json:"buttonSecondaryBackground,omitempty"`
	ButtonSecondaryBorder     string `json:"buttonSecondaryBorder,omitempty"`
	CardBackground            string `json:"cardBackground,omitempty"`
	CardBorder                string `json:"cardBorder,omitempty"`
	InputBackground           string `json:"inputBackground,omitempty"`
	InputBorder               string `json:"inputBorder,omitempty"`
	Link                      string `json:"link,omitempty"`
	HeadingText               string `json:"headingText,omitempty"`
	BodyText                  string `json:"bodyText,omitempty"`
	ContainerBackground       string `json:"containerBackground,omitempty"`
	ContainerBorder           string `json:"containerBorder,omitempty"`
	Divider                   string `json:"divider,omitempty"`
	Icon                      string `json:"icon,omitempty"`
	Loader                    string `json:"loader,omitempty"`
	Positive                  string `json:"positive,omitempty"`
	Critical                  string `json:"critical,omitempty"`
	Information               string `json:"information,omitempty"`
	Hover                     string `json:"hover,omitempty"`
	Focus                     string `json:"focus,omitempty"`
}

// ThemeContainer places the page's card and logo.
type ThemeContainer struct {
	ContentAlignment string `json:"contentAlignment,omitempty"` // left|center|right
	Padding          *int   `json:"padding,omitempty"`
	LogoAlignment    string `json:"logoAlignment,omitempty"` // left|center|right
	LogoPosition     string `json:"logoPosition,omitempty"`  // inside|outside
	LogoHeight       *int   `json:"logoHeight,omitempty"`
	ExitPosition     string `json:"exitPosition,omitempty"` // top|bottom; not in darkMode
}

// ThemeBackground is the page behind the card.
type ThemeBackground struct {
	BackgroundColor    string `json:"backgroundColor,omitempty"`
	BackgroundImageURL string `json:"backgroundImageUrl,omitempty"`
}

// ThemeTypography names the fonts of body text, headings and buttons.
type ThemeTypography struct {
	Text    *ThemeFont `json:"text,omitempty"`
	Display *ThemeFont `json:"display,omitempty"`
	Button  *ThemeFont `json:"button,omitempty"`
}

// ThemeFont is a font family given by its faces (at most 6).
type ThemeFont struct {
	Faces   []ThemeFontFace `json:"faces,omitempty"`
	FontURL string          `json:"fontUrl,omitempty"` // deprecated
}

// ThemeFontFace is one font file. Weight is "400" or a range "100 900";
// the API returns a single weight as a number.
type ThemeFontFace struct {
	URL    string `json:"url"`
	Weight string `json:"weight,omitempty"`
}

// ThemeLinks styles links.
type ThemeLinks struct {
	Underline bool `json:"underline"`
}

// ThemeShadows switches card shadows.
type ThemeShadows struct {
	Enabled bool `json:"enabled"`
}

// ThemeDarkMode overrides the theme when the browser prefers a dark scheme.
type ThemeDarkMode struct {
	Borders        *ThemeBorders    `json:"borders,omitempty"`
	Colors         *ThemeColors     `json:"colors,omitempty"`
	Container      *ThemeContainer  `json:"container,omitempty"` // ExitPosition must be empty
	PageBackground *ThemeBackground `json:"pageBackground,omitempty"`
	LogoURL        string           `json:"logoUrl,omitempty"`
	WatermarkURL   string           `json:"watermarkUrl,omitempty"`
	FaviconURL     string           `json:"faviconUrl,omitempty"`
	PrimaryColor   string           `json:"primaryColor,omitempty"`
}
